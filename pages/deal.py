"""Placeholder until this page lands."""

import streamlit as st

st.title("deal")
st.info("This page is being built.")
