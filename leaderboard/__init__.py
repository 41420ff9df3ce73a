"""The leaderboard: entry checks, scoring, storage, HTTP service and web page, client."""
