"""Placeholder until this page lands."""

import streamlit as st

st.title("backtest")
st.info("This page is being built.")
