"""Placeholder until this page lands."""

import streamlit as st

st.title("prompts")
st.info("This page is being built.")
