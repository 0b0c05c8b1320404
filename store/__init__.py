"""The store's core: settings, the services both the bot and the Mini App call, the runtime."""

from store.lean_aiogram import import_lean as _import_lean

_import_lean()  # before anything imports aiogram: its models' validators built on first use (~110 MB less)
