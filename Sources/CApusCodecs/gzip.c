// gzip / zlib inflation through zlib.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "apus_codecs.h"

int apus_gunzip(const unsigned char *data, size_t size, unsigned char **out, size_t *out_size, char *error) {
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    if (inflateInit2(&stream, 15 + 32) != Z_OK) {   // 32: detect gzip or zlib headers
        snprintf(error, 256, "zlib initialisation failed");
        return -1;
    }
    size_t capacity = size * 4 + 1024, length = 0;
    unsigned char *buffer = malloc(capacity);
    stream.next_in = (unsigned char *)data;
    stream.avail_in = (uInt)size;
    int status = Z_OK;
    while (buffer && status != Z_STREAM_END) {
        if (length == capacity) {
            capacity *= 2;
            unsigned char *grown = realloc(buffer, capacity);
            if (!grown) { free(buffer); buffer = NULL; break; }
            buffer = grown;
        }
        stream.next_out = buffer + length;
        stream.avail_out = (uInt)(capacity - length);
        status = inflate(&stream, Z_NO_FLUSH);
        length = capacity - stream.avail_out;
        if (status != Z_OK && status != Z_STREAM_END) {
            snprintf(error, 256, "%s", status == Z_BUF_ERROR ? "truncated gzip data" : (stream.msg ? stream.msg : "corrupt gzip data"));
            free(buffer);
            inflateEnd(&stream);
            return -1;
        }
    }
    inflateEnd(&stream);
    if (!buffer) {
        snprintf(error, 256, "out of memory");
        return -1;
    }
    *out = buffer;
    *out_size = length;
    return 0;
}
