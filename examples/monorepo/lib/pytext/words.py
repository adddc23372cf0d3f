"""Text helpers shared by the Python services."""


def shout(text):
    return text.upper() + "!"
