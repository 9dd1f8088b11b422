"""The warm stage server: pipeline stages run in a fork of one interpreter that has done the
imports, instead of each `bikecast <stage>` process paying 2-3 s of imports for 1 s of work.

DVC still runs every stage as its own command; the `bikecast` command (`client.py`) hands a
stage to the server (`server.py`) and relays its exit. `place.py` says which server fits this
code and where its socket lives. BIKECAST_WARM=0 runs every stage in its own process as before.
"""
