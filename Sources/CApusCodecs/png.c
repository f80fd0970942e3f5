// PNG through libpng's low-level API: errors longjmp back here and become messages.
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include "apus_codecs.h"

typedef struct {
    const unsigned char *data;
    size_t size, offset;
    char *error;
} png_source;

static void on_error(png_structp png, png_const_charp message) {
    png_source *source = (png_source *)png_get_error_ptr(png);
    snprintf(source->error, 256, "%s", message);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

static void read_bytes(png_structp png, png_bytep out, png_size_t count) {
    png_source *source = (png_source *)png_get_io_ptr(png);
    if (source->offset + count > source->size) png_error(png, "truncated file (unexpected end of data)");
    memcpy(out, source->data + source->offset, count);
    source->offset += count;
}

int apus_png_decode(const unsigned char *data, size_t size, int channels, apus_image *out, char *error) {
    memset(out, 0, sizeof *out);
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        snprintf(error, 256, "not a PNG file (bad signature)");
        return -1;
    }
    png_source source = {data, size, 0, error};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        snprintf(error, 256, "out of memory");
        png_destroy_read_struct(&png, NULL, NULL);
        return -1;
    }
    unsigned char *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_set_read_fn(png, &source, read_bytes);
    png_read_info(png, info);
    unsigned long long area = (unsigned long long)png_get_image_width(png, info) * png_get_image_height(png, info);
    if (area > APUS_IMAGE_MAX_PIXELS) {
        snprintf(error, 256, "image is %u × %u pixels, more than the %llu-pixel limit", png_get_image_width(png, info),
                 png_get_image_height(png, info), APUS_IMAGE_MAX_PIXELS);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    int color = png_get_color_type(png, info);
    if (png_get_bit_depth(png, info) == 16) png_set_scale_16(png);
    png_set_expand(png);   // palette → RGB, gray < 8 bit → 8 bit, tRNS → alpha
    int has_color = (color & PNG_COLOR_MASK_COLOR) != 0;
    int has_alpha = (color & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS);
    if (channels == 1) {
        if (has_color) png_set_rgb_to_gray_fixed(png, 1, -1, -1);
        if (has_alpha) png_set_strip_alpha(png);
    } else if (channels == 3) {
        if (!has_color) png_set_gray_to_rgb(png);
        if (has_alpha) png_set_strip_alpha(png);
    } else if (channels == 4) {
        if (!has_color) png_set_gray_to_rgb(png);
        if (!has_alpha) png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);
    } else if (channels != 0) {
        snprintf(error, 256, "unsupported channel count %d (use 0, 1, 3 or 4)", channels);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int width = (int)png_get_image_width(png, info), height = (int)png_get_image_height(png, info);
    int got = png_get_channels(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    pixels = malloc(row_bytes * (size_t)height);
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (!pixels || !rows) png_error(png, "out of memory");
    for (int y = 0; y < height; y++) rows[y] = pixels + (size_t)y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->width = width;
    out->height = height;
    out->channels = got;
    out->pixels = pixels;
    return 0;
}

typedef struct {
    unsigned char *data;
    size_t size, capacity;
} png_sink;

static void write_bytes(png_structp png, png_bytep in, png_size_t count) {
    png_sink *sink = (png_sink *)png_get_io_ptr(png);
    if (sink->size + count > sink->capacity) {
        size_t capacity = (sink->capacity + count) * 2;
        unsigned char *grown = realloc(sink->data, capacity);
        if (!grown) png_error(png, "out of memory");
        sink->data = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->data + sink->size, in, count);
    sink->size += count;
}

static void flush_bytes(png_structp png) { (void)png; }

int apus_png_encode(const unsigned char *pixels, int width, int height, int channels, int bit_depth16,
                    unsigned char **out, size_t *out_size, char *error) {
    static const int types[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGBA};
    if (channels < 1 || channels > 4) {
        snprintf(error, 256, "unsupported channel count %d", channels);
        return -1;
    }
    png_source context = {NULL, 0, 0, error};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &context, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_sink sink = {NULL, 0, 0};
    unsigned char *volatile wide = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        free(sink.data);
        free(wide);
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, &sink, write_bytes, flush_bytes);
    int depth = bit_depth16 ? 16 : 8;
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, depth, types[channels], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t row = (size_t)width * (size_t)channels;
    if (bit_depth16) {   // each 8-bit sample v becomes the 16-bit v·257 (big-endian)
        wide = malloc(row * 2);
        if (!wide) png_error(png, "out of memory");
    }
    for (int y = 0; y < height; y++) {
        const unsigned char *src = pixels + (size_t)y * row;
        if (bit_depth16) {
            for (size_t i = 0; i < row; i++) { wide[2 * i] = src[i]; wide[2 * i + 1] = src[i]; }
            png_write_row(png, wide);
        } else {
            png_write_row(png, (png_const_bytep)src);
        }
    }
    png_write_end(png, NULL);
    free(wide);
    png_destroy_write_struct(&png, &info);
    *out = sink.data;
    *out_size = sink.size;
    return 0;
}

void apus_image_free(apus_image *image) {
    free(image->pixels);
    image->pixels = NULL;
}

void apus_free(void *pointer) { free(pointer); }
