"""Insights: forecasts with tracked accuracy, what-if, risk rules, resonance scores, territory
summaries, account views and CRM import. Plain typed Python, no LLM; see docs/insights.md."""
