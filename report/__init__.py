"""The quality report: a self-contained HTML page built from the warehouse's BI views."""
