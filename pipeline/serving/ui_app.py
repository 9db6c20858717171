"""The Streamlit page of ``python -m pipeline ui`` (run by Streamlit, once per interaction; the model is loaded once
per process by :func:`pipeline.serving.ui.resources`)."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from pipeline.data.jsonl import DataError
from pipeline.serving.ui import attribution_html, resources

RTL_CSS = """<style>
textarea, .stTextInput input { direction: rtl; text-align: right; }
.rtl { direction: rtl; text-align: right; font-size: 1.25rem; line-height: 2.2; }
.attributions .token { padding: 0.1rem 0.3rem; border-radius: 0.3rem; }
</style>"""

st.set_page_config(page_title="Arabic review classifier", layout="centered")
st.markdown(RTL_CSS, unsafe_allow_html=True)
res = resources()
sp = res.params.serve
st.title("Arabic review classifier")
st.caption(f"{res.model.name}, version {res.model.version} ({res.model.predictor.arch})")
classify_tab, generate_tab, card_tab = st.tabs(["Classify", "Generate", "Model card"])

with classify_tab:
    with st.form("classify"):
        text = st.text_area("Review (Arabic, right to left)", key="text", height=120)
        submitted = st.form_submit_button("Classify", key="classify_submit")
    if submitted:
        if not text.strip():
            st.warning("Type a text to classify.")
        elif len(text) > sp.max_chars:
            st.error(f"The text has {len(text)} characters; the limit is serve.max_chars = {sp.max_chars}.")
        else:
            (prediction,) = res.model.classify([text])
            st.metric("Predicted class", prediction["label"])
            probs = prediction["probabilities"]
            st.bar_chart(pd.DataFrame({"probability": list(probs.values())}, index=list(probs)), horizontal=True)
            if hasattr(res.model.predictor, "explain"):
                with res.explain_lock:
                    exp = res.model.explain(text)
                st.markdown(f"**Token attributions** ({exp['method']}, for *{exp['label']}*)")
                st.markdown(attribution_html(exp["tokens"], exp["scores"]), unsafe_allow_html=True)
                st.caption("The tokens the model reads; green: towards the predicted class, red: against it.")
            else:
                st.info(f"{res.model.predictor.arch} models have no token explanations.")

with generate_tab:
    if not res.generator.lms:
        st.info("No trained language model (run `dvc repro train_lm`).")
    else:
        g = res.params.generate
        with st.form("generate"):
            prompt = st.text_input("Prompt (Arabic)", key="prompt")
            names = list(res.generator.lms)
            default = names.index(g.default_model) if g.default_model in names else 0
            lm_name = st.selectbox("Language model", names, index=default, key="lm")
            labels = res.generator.lms[lm_name].codec.labels
            label = st.selectbox("Class", ["(none)", *labels], key="label")
            temperature = st.slider("Temperature", 0.1, 2.0, 1.0, 0.1, key="temperature")
            max_new = min(g.max_new_tokens, sp.max_new_tokens)
            new_tokens = st.number_input("New tokens", 1, sp.max_new_tokens, max_new, key="new_tokens")
            seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="seed")
            generated = st.form_submit_button("Generate", key="generate_submit")
        if generated:
            try:
                with res.generate_lock:
                    decoding = res.generator.decoding(None, temperature=temperature)
                    out = res.generator.generate(
                        prompt, lm_name, None if label == "(none)" else label, decoding, int(new_tokens), int(seed)
                    )
            except DataError as err:
                st.error(str(err).splitlines()[0])
            else:
                st.markdown(
                    f'<div class="rtl generated" dir="rtl">{html.escape(out["text"])}</div>', unsafe_allow_html=True
                )
                st.caption(f"{out['model']}: {out['new_tokens']} new tokens, temperature {temperature:g}, seed {seed}")

with card_tab:
    st.table(pd.DataFrame(res.card, columns=["", "value"]).set_index(""))
