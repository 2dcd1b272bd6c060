"""A round-robin TCP relay on 127.0.0.1 in front of several collectors, as a
load balancer would be: each accepted connection goes to the next port.
Usage: rr_proxy.py PORTFILE PORT... (writes the port it listens on to
PORTFILE, then relays until killed)."""
import asyncio
import itertools
import sys

ports = itertools.cycle([int(p) for p in sys.argv[2:]])


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def handle(creader, cwriter):
    try:
        sreader, swriter = await asyncio.open_connection("127.0.0.1", next(ports))
    except OSError:
        cwriter.close()
        return
    await asyncio.gather(pipe(creader, swriter), pipe(sreader, cwriter))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    with open(sys.argv[1], "w") as f:
        f.write("%d\n" % server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


asyncio.run(main())
