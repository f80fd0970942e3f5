// JPEG through libjpeg(-turbo); its fatal errors longjmp back here and become messages.
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include "apus_codecs.h"

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *error;
} jpeg_failure;

static void on_fatal(j_common_ptr info) {
    jpeg_failure *failure = (jpeg_failure *)info->err;
    char message[JMSG_LENGTH_MAX];
    info->err->format_message(info, message);
    if (info->err->msg_code == JERR_INPUT_EOF || info->err->msg_code == JWRN_HIT_MARKER) {
        snprintf(message, sizeof message, "truncated file (premature end of JPEG data)");
    }
    snprintf(failure->error, 256, "%s", message);
    longjmp(failure->jump, 1);
}

static void on_message(j_common_ptr info) { (void)info; }

// Warnings are ignored, but for the one that says the image data ran out before the image did:
// libjpeg would go on to fill the rest of the image (up to APUS_IMAGE_MAX_PIXELS) with gray.
static void on_warning(j_common_ptr info, int level) {
    if (level < 0 && info->err->msg_code == JWRN_HIT_MARKER) info->err->error_exit(info);
    if (level < 0) info->err->num_warnings++;
}

// The source: all the bytes are in memory from the start, so needing more means the file was
// cut short. libjpeg's own memory source pads such a file with an end marker and decodes the
// rest as gray, warning only; here it is an error at once, unless only that end marker is
// missing after the last row was decoded.
static void source_start(j_decompress_ptr info) { (void)info; }

static boolean source_fill(j_decompress_ptr info) {
    static const JOCTET end_marker[2] = {0xFF, JPEG_EOI};
    if (info->output_height == 0 || info->output_scanline < info->output_height) ERREXIT(info, JERR_INPUT_EOF);
    info->src->next_input_byte = end_marker;
    info->src->bytes_in_buffer = 2;
    return TRUE;
}

static void source_skip(j_decompress_ptr info, long count) {
    if (count <= 0) return;
    if ((size_t)count > info->src->bytes_in_buffer) ERREXIT(info, JERR_INPUT_EOF);
    info->src->next_input_byte += count;
    info->src->bytes_in_buffer -= (size_t)count;
}

static void source_end(j_decompress_ptr info) { (void)info; }

int apus_jpeg_decode(const unsigned char *data, size_t size, int channels, apus_image *out, char *error) {
    memset(out, 0, sizeof *out);
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) {
        snprintf(error, 256, "not a JPEG file (bad signature)");
        return -1;
    }
    struct jpeg_decompress_struct info;
    jpeg_failure failure;
    info.err = jpeg_std_error(&failure.base);
    failure.base.error_exit = on_fatal;
    failure.base.output_message = on_message;
    failure.base.emit_message = on_warning;
    failure.error = error;
    unsigned char *volatile pixels = NULL;
    if (setjmp(failure.jump)) {
        free(pixels);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    jpeg_create_decompress(&info);
    struct jpeg_source_mgr source = {
        .next_input_byte = data, .bytes_in_buffer = size, .init_source = source_start, .fill_input_buffer = source_fill,
        .skip_input_data = source_skip, .resync_to_restart = jpeg_resync_to_restart, .term_source = source_end,
    };
    info.src = &source;
    jpeg_read_header(&info, TRUE);
    if ((unsigned long long)info.image_width * info.image_height > APUS_IMAGE_MAX_PIXELS) {
        snprintf(error, 256, "image is %u × %u pixels, more than the %llu-pixel limit", info.image_width, info.image_height,
                 APUS_IMAGE_MAX_PIXELS);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    if (channels == 1) info.out_color_space = JCS_GRAYSCALE;
    else if (channels == 3) info.out_color_space = JCS_RGB;
    else if (channels == 4) info.out_color_space = JCS_EXT_RGBA;
    else if (channels == 0) info.out_color_space = info.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    else {
        snprintf(error, 256, "unsupported channel count %d (use 0, 1, 3 or 4)", channels);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    jpeg_start_decompress(&info);
    size_t row = (size_t)info.output_width * (size_t)info.output_components;
    pixels = malloc(row * info.output_height);
    if (!pixels) {
        snprintf(error, 256, "out of memory");
        jpeg_destroy_decompress(&info);
        return -1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW line = pixels + row * info.output_scanline;
        jpeg_read_scanlines(&info, &line, 1);
    }
    jpeg_finish_decompress(&info);
    out->width = (int)info.output_width;
    out->height = (int)info.output_height;
    out->channels = info.output_components;
    out->pixels = pixels;
    jpeg_destroy_decompress(&info);
    return 0;
}

int apus_jpeg_encode(const unsigned char *pixels, int width, int height, int channels, int quality,
                     unsigned char **out, size_t *out_size, char *error) {
    if (channels != 1 && channels != 3) {
        snprintf(error, 256, "JPEG encoding takes 1 or 3 channels, got %d", channels);
        return -1;
    }
    struct jpeg_compress_struct info;
    jpeg_failure failure;
    info.err = jpeg_std_error(&failure.base);
    failure.base.error_exit = on_fatal;
    failure.error = error;
    unsigned char *buffer = NULL;
    unsigned long length = 0;
    if (setjmp(failure.jump)) {
        jpeg_destroy_compress(&info);
        free(buffer);
        return -1;
    }
    jpeg_create_compress(&info);
    jpeg_mem_dest(&info, &buffer, &length);
    info.image_width = (JDIMENSION)width;
    info.image_height = (JDIMENSION)height;
    info.input_components = channels;
    info.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, quality, TRUE);
    jpeg_start_compress(&info, TRUE);
    size_t row = (size_t)width * (size_t)channels;
    while (info.next_scanline < info.image_height) {
        JSAMPROW line = (JSAMPROW)(pixels + row * info.next_scanline);
        jpeg_write_scanlines(&info, &line, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    *out = buffer;
    *out_size = length;
    return 0;
}
