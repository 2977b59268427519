"""Presentation: plotly figures built from diagnostic results, and the HTML / PDF report.

The only code outside ``dashboard/`` that imports plotly. Figures take data, never widgets,
so the report and the dashboard draw the same ones.
"""
