"""Tools that drive the app from outside, as doctors' browsers do: the load test, the page-time benchmark, the
protocol client they use and the helpers that start the app and Debian's Chromium (also used by the tests)."""
