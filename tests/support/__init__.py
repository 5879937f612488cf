"""What the tests share: a real PostgreSQL to create databases on, real servers on loopback
(the fake DeepSeek, an SMTP server, the app itself, a browser), and helpers that read what
they produced. The modules with fixtures are pytest plugins, loaded by `tests/conftest.py`."""
