"""The views of a study's screen, one per tab: runs, agreement, heatmap, histogram, order, examples."""
