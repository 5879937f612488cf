"""Visitors' accounts: who is calling (identity), registration with mail confirmation, login
with guest history carried over, password reset (flows), bcrypt (passwords), and the mail
they send (mailer, mail_texts)."""
