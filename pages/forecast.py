"""Placeholder until this page lands."""

import streamlit as st

st.title("forecast")
st.info("This page is being built.")
