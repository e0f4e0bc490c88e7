"""Figure recipes: each computes (or loads) its data, saves it (npz + JSON), then plots from the saved data."""
