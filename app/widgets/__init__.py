"""Drawing widgets (braille charts, coloured matrices, half-block images) and their pure renderers."""
