"""pymaster: mastering with a C core: EQ, compression, true-peak limiting, loudness metering."""
