// Image and compression codecs for ApusData: PNG (libpng), JPEG (libjpeg-turbo) and gzip
// (zlib). Every function reports failure through its return value and an error message; none
// aborts the process on bad input.
#ifndef APUS_CODECS_H
#define APUS_CODECS_H
#include <stddef.h>

/// The most pixels (width × height) a decoder accepts: a larger size in a header is refused
/// before anything is allocated, so a few bytes cannot claim gigabytes (Pillow refuses images
/// above 179 million pixels as decompression bombs; this is 134 million, 11585² or 16384 × 8192).
#define APUS_IMAGE_MAX_PIXELS ((unsigned long long)1 << 27)

/// A decoded image: rows of width × channels bytes, top row first.
typedef struct {
    int width, height, channels;
    unsigned char *pixels;
} apus_image;

/// Decodes PNG bytes (gray, gray+alpha, RGB, RGBA, palette; 1–16 bit) to 8-bit pixels with
/// `channels` 1, 3 or 4 (0 keeps the file's own: 1, 2, 3 or 4). 16-bit samples are scaled to
/// 8 bits. Images over APUS_IMAGE_MAX_PIXELS are refused. Returns 0, or -1 with a message in
/// `error` (size 256).
int apus_png_decode(const unsigned char *data, size_t size, int channels, apus_image *out, char *error);
/// Decodes baseline/progressive JPEG bytes to 8-bit gray (channels 1), RGB (3 or 0 for color
/// files) or RGBA (4). Images over APUS_IMAGE_MAX_PIXELS and data that ends before the image
/// does are refused. Returns 0, or -1 with a message in `error`.
int apus_jpeg_decode(const unsigned char *data, size_t size, int channels, apus_image *out, char *error);
/// Encodes 8-bit pixels (1, 2, 3 or 4 channels) as PNG; *out is freed with apus_free.
int apus_png_encode(const unsigned char *pixels, int width, int height, int channels, int bit_depth16,
                    unsigned char **out, size_t *out_size, char *error);
/// Encodes 8-bit gray (1) or RGB (3) pixels as JPEG of the given quality; *out is freed with apus_free.
int apus_jpeg_encode(const unsigned char *pixels, int width, int height, int channels, int quality,
                     unsigned char **out, size_t *out_size, char *error);
/// Inflates gzip (or zlib) data; *out is freed with apus_free.
int apus_gunzip(const unsigned char *data, size_t size, unsigned char **out, size_t *out_size, char *error);
void apus_image_free(apus_image *image);
void apus_free(void *pointer);
#endif
