"""Placeholder until this page lands."""

import streamlit as st

st.title("llm_usage")
st.info("This page is being built.")
