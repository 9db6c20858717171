"""Pretrained transformers: our own small BERT pre-trained with masked-language modelling (pretrain
stage), fine-tuned for classification from it or from any Hugging Face checkpoint (finetune stage)."""
