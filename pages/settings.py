"""Placeholder until this page lands."""

import streamlit as st

st.title("settings")
st.info("This page is being built.")
