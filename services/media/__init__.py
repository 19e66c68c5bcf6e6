"""The media service: RTP audio streams, codecs, SRTP, DTMF, the mixer, devices, WAV files."""
