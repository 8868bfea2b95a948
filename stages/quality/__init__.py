"""Quality filtering: Gopher/C4/FineWeb rules, URL blocklists and a fastText quality classifier."""
