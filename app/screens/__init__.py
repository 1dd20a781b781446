"""The TUI's screens: the list of studies, a study (with its views), help and study picker."""
