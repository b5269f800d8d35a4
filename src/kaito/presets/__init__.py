"""Model and GPU SKU catalogs, and the sizing planner that matches one to the other."""
