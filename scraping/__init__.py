"""The Scrapy project: the review spider, its extraction helpers and the embedded demo site."""
