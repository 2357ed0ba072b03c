"""The Reports area's views: the weekly report, agreement, adjudication and the scorecard."""
