# The reference Llama engine: numpy reference agreement and CLI errors.
INTEG_TESTS += tests/integ/engine-ref.sh tests/integ/engine-cli.sh
