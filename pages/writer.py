"""Placeholder until this page lands."""

import streamlit as st

st.title("writer")
st.info("This page is being built.")
