"""An aiosmtpd handler that writes each received mail to a file, for the end-to-end suite.

Run with Debian's Python (which has aiosmtpd):
    /usr/bin/python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_sink.MailDir /path/to/dir
"""
import itertools
import os


class MailDir:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.counter = itertools.count(1)

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(self.directory, f"mail-{next(self.counter):04d}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.replace(path + ".tmp", path)
        return "250 Message accepted for delivery"
