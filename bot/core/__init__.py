"""The kernel: what every other part of Sales Copilot builds on, and nothing else.

Settings, the error hierarchy, the text catalogue, the data model and database, the job
interface, identity, the one access policy, the channel seam and the copilot core with its
ports. Modules here import only each other (and third-party libraries); an import-linter
contract (`make check`) keeps it that way.
"""
