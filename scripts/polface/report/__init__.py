"""The report wing: paper tables (computation and rendering), figures, and the static HTML
galleries of the LIME reports. Imports the ground floor and the data wing."""
