/* libFuzzer target for the Oblivious HTTP parsers: key configuration and
 * application/ohttp-keys decoding, gateway decapsulation with a fixed key
 * (RFC 9458 Appendix A's), and the private key file parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sts/ohttp.h"

/* RFC 9458 Appendix A: the gateway's X25519 secret key and key configuration. */
static const uint8_t server_sk[32] = {
    0x3c, 0x16, 0x89, 0x75, 0x67, 0x4b, 0x2f, 0xa8, 0xe4, 0x65, 0x97, 0x0b, 0x79, 0xc8, 0xdc, 0xf0,
    0x9f, 0x1c, 0x74, 0x16, 0x26, 0x48, 0x0b, 0xd4, 0xc6, 0x16, 0x2f, 0xc5, 0xb6, 0xa9, 0x8e, 0x1a};
static const uint8_t key_config[] = {
    0x01, 0x00, 0x20, 0x31, 0xe1, 0xf0, 0x5a, 0x74, 0x01, 0x02, 0x11, 0x52, 0x20, 0xe9, 0xaf,
    0x91, 0x8f, 0x73, 0x86, 0x74, 0xae, 0xc9, 0x5f, 0x54, 0xdb, 0x6e, 0x04, 0xeb, 0x70, 0x5a,
    0xae, 0x8e, 0x79, 0x81, 0x55, 0x00, 0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x03};

static struct sts_ohttp_gateway *gateway(void)
{
    static struct sts_ohttp_gateway *gw;
    struct sts_ohttp_key_config cfg;
    struct sts_ohttp_gateway_key *key = NULL;

    if (gw != NULL)
        return gw;
    if (sts_ohttp_key_config_decode(&cfg, key_config, sizeof(key_config)) != STS_OK ||
        sts_ohttp_gateway_key_new(&key, &cfg, server_sk) != STS_OK ||
        sts_ohttp_gateway_new(&gw) != STS_OK || sts_ohttp_gateway_add_key(gw, key) != STS_OK)
        abort();
    return gw;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sts_ohttp_key_config cfg, list[4];
    struct sts_ohttp_response_ctx *rctx = NULL;
    struct sts_ohttp_gateway_key *key = NULL;
    static uint8_t out[STS_OHTTP_MAX_MESSAGE];
    size_t n, len;

    /* A configuration that decodes must encode back to the same bytes. */
    if (sts_ohttp_key_config_decode(&cfg, data, size) == STS_OK) {
        if (sts_ohttp_key_config_encode(&cfg, out, sizeof(out), &len) != STS_OK || len != size ||
            memcmp(out, data, size) != 0)
            abort();
    }
    if (sts_ohttp_keys_decode(list, 4, &n, data, size) == STS_OK && (n == 0 || n > 4))
        abort();
    if (sts_ohttp_gateway_decap(gateway(), data, size, out, sizeof(out), &len, &rctx) == STS_OK) {
        uint8_t res[64];

        if (rctx == NULL || sts_ohttp_response_encap(rctx, (const uint8_t *)"\x01\x40\xc8", 3, NULL,
                                                     res, sizeof(res), &len) != STS_OK)
            abort();
    } else if (rctx != NULL) {
        abort();
    }
    sts_ohttp_response_ctx_free(rctx);
    if (sts_ohttp_gateway_key_load(&key, (const char *)data, size) == STS_OK)
        sts_ohttp_gateway_key_free(key);
    return 0;
}
