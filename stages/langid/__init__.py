"""Language identification with a fastText LID model (lid.176 by default) and the code tables it maps to."""
