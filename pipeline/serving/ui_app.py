"""The Streamlit page of ``python -m pipeline ui`` (run by Streamlit, once per interaction; the model is loaded once
per process by :func:`pipeline.serving.ui.resources`). Each tab's last answer is kept in the session, so using one
tab does not clear the other."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import streamlit as st

from pipeline.data.jsonl import DataError
from pipeline.serving.ui import Resources, attribution_html, resources

RTL_CSS = """<style>
textarea, .stTextInput input { direction: rtl; text-align: right; }
.rtl { direction: rtl; text-align: right; font-size: 1.25rem; line-height: 2.2; }
.attributions .token { padding: 0.1rem 0.3rem; border-radius: 0.3rem; }
</style>"""


def classify(res: Resources, text: str) -> dict[str, Any]:
    """``{"warning"|"error": message}`` or ``{"prediction", "explanation"}`` (the API's classify and explain)."""
    if not text.strip():
        return {"warning": "Type a text to classify."}
    limit = res.params.serve.max_chars
    if len(text) > limit:
        return {"error": f"The text has {len(text)} characters; the limit is serve.max_chars = {limit}."}
    (prediction,) = res.model.classify([text])
    explanation = None
    if hasattr(res.model.predictor, "explain"):
        with res.explain_lock:
            explanation = res.model.explain(text)
    return {"prediction": prediction, "explanation": explanation}


def show_classification(res: Resources, answer: dict[str, Any]) -> None:
    if "warning" in answer or "error" in answer:
        (st.warning if "warning" in answer else st.error)(answer.get("warning") or answer["error"])
        return
    prediction, exp = answer["prediction"], answer["explanation"]
    st.metric("Predicted class", prediction["label"])
    probs = prediction["probabilities"]
    st.bar_chart(pd.DataFrame({"probability": list(probs.values())}, index=list(probs)), horizontal=True)
    if exp is None:
        st.info(f"{res.model.predictor.arch} models have no token explanations.")
        return
    st.markdown(f"**Token attributions** ({exp['method']}, for *{exp['label']}*)")
    st.markdown(attribution_html(exp["tokens"], exp["scores"]), unsafe_allow_html=True)
    st.caption("The tokens the model reads; green: towards the predicted class, red: against it.")


def generate(res: Resources, prompt: str, lm: str, label: str | None, temperature: float, new: int, seed: int) -> dict:
    """``{"error": message}`` or the API's generate answer."""
    try:
        with res.generate_lock:
            decoding = res.generator.decoding(None, temperature=temperature)
            out = res.generator.generate(prompt, lm, label, decoding, new, seed)
    except DataError as err:
        return {"error": str(err).splitlines()[0]}
    return {**out, "temperature": temperature, "seed": seed}


def show_generation(answer: dict[str, Any]) -> None:
    if "error" in answer:
        st.error(answer["error"])
        return
    st.markdown(f'<div class="rtl generated" dir="rtl">{html.escape(answer["text"])}</div>', unsafe_allow_html=True)
    st.caption(f"{answer['model']}: {answer['new_tokens']} new tokens, temperature {answer['temperature']:g}, "
               f"seed {answer['seed']}")  # fmt: skip


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
        if st.form_submit_button("Classify", key="classify_submit"):
            st.session_state["classified"] = classify(res, text)
    if "classified" in st.session_state:
        show_classification(res, st.session_state["classified"])

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
            label = st.selectbox("Class", ["(none)", *res.generator.lms[lm_name].codec.labels], key="label")
            temperature = st.slider("Temperature", 0.1, 2.0, 1.0, 0.1, key="temperature")
            max_new = min(g.max_new_tokens, sp.max_new_tokens)
            new_tokens = st.number_input("New tokens", 1, sp.max_new_tokens, max_new, key="new_tokens")
            seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="seed")
            if st.form_submit_button("Generate", key="generate_submit"):
                chosen = None if label == "(none)" else label
                answer = generate(res, prompt, lm_name, chosen, temperature, int(new_tokens), int(seed))
                st.session_state["generated"] = answer
        if "generated" in st.session_state:
            show_generation(st.session_state["generated"])

with card_tab:
    st.table(pd.DataFrame(res.card, columns=["", "value"]).set_index(""))
