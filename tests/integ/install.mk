# make install into a staged DESTDIR and an engine built from the .pc alone.
INTEG_TESTS += tests/integ/install.sh
