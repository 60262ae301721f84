"""The report wing: paper tables (computation and rendering) and figures. Imports the ground
floor and the data wing."""
