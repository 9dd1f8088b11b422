"""The GitOps loop's test machinery, moved out of scripts/e2e_loop.py."""
