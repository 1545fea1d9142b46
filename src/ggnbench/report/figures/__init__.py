"""The figures: CSV tables in, PNG and PDF files out.

The registry of drawing functions, the helpers they share, one module of drawing functions
per figure set (study, seed example, bench, paper), and drawing a set into files. Every
figure is drawn off-screen: the Agg backend is chosen here, before any of these modules
imports pyplot.
"""

import matplotlib

matplotlib.use("Agg")
