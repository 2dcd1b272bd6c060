"""IMEIs for the test clients: the Luhn check digit, written once."""


def luhn(body14):
    """body14 (14 digits) followed by its Luhn check digit: a valid IMEI."""
    total = 0
    for i, ch in enumerate(body14):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body14 + str((10 - total % 10) % 10)
