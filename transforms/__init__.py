"""Conform raw batches and compute KPIs: typed functions, DataFrame in, DataFrame out."""
