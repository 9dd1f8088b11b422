"""bikecast: hourly bike-demand forecasting, retrained and shipped through git."""

__version__ = "0.1.0"
