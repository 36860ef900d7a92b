#include "PeerShims.h"
#include <soxr.h>
#include <speex/speex_resampler.h>
#include <sonic.h>
#include <soundtouch/SoundTouch.h>
#include <stdbool.h>
extern "C" {
#include <spandsp/telephony.h>
#include <spandsp/bit_operations.h>
#include <spandsp/g711.h>
}

extern "C" {

void *peer_soxr_create(double input_rate, double output_rate) {
    soxr_error_t error = nullptr;
    soxr_t r = soxr_create(input_rate, output_rate, 1, &error, nullptr, nullptr, nullptr);
    return error ? nullptr : r;
}
size_t peer_soxr_process(void *r, const float *in, size_t in_count, float *out, size_t out_capacity) {
    size_t used = 0, made = 0;
    soxr_process((soxr_t)r, in, in_count, &used, out, out_capacity, &made);
    return made;
}
void peer_soxr_delete(void *r) { soxr_delete((soxr_t)r); }

void *peer_speex_create(int input_rate, int output_rate, int quality) {
    int error = 0;
    return speex_resampler_init(1, (spx_uint32_t)input_rate, (spx_uint32_t)output_rate, quality, &error);
}
size_t peer_speex_process(void *r, const float *in, size_t in_count, float *out, size_t out_capacity) {
    spx_uint32_t in_len = (spx_uint32_t)in_count, out_len = (spx_uint32_t)out_capacity;
    speex_resampler_process_float((SpeexResamplerState *)r, 0, in, &in_len, out, &out_len);
    return out_len;
}
void peer_speex_delete(void *r) { speex_resampler_destroy((SpeexResamplerState *)r); }

void *peer_g711_create(int ulaw) { return g711_init(nullptr, ulaw ? G711_ULAW : G711_ALAW); }
int peer_g711_encode(void *s, uint8_t *codes, const int16_t *samples, int count) {
    return g711_encode((g711_state_t *)s, codes, samples, count);
}
int peer_g711_decode(void *s, int16_t *samples, const uint8_t *codes, int count) {
    return g711_decode((g711_state_t *)s, samples, codes, count);
}
void peer_g711_delete(void *s) { g711_free((g711_state_t *)s); }

void *peer_sonic_create(int rate, float speed) {
    sonicStream s = sonicCreateStream(rate, 1);
    sonicSetSpeed(s, speed);
    sonicSetQuality(s, 0);
    return s;
}
int peer_sonic_process(void *s, const float *in, int in_count, float *out, int out_capacity) {
    sonicWriteFloatToStream((sonicStream)s, (float *)in, in_count);
    return sonicReadFloatFromStream((sonicStream)s, out, out_capacity);
}
void peer_sonic_delete(void *s) { sonicDestroyStream((sonicStream)s); }

void *peer_soundtouch_create(int rate, double tempo) {
    auto *st = new soundtouch::SoundTouch();
    st->setSampleRate((unsigned)rate);
    st->setChannels(1);
    st->setTempo(tempo);
    return st;
}
int peer_soundtouch_process(void *s, const float *in, int in_count, float *out, int out_capacity) {
    auto *st = (soundtouch::SoundTouch *)s;
    st->putSamples(in, (unsigned)in_count);
    return (int)st->receiveSamples(out, (unsigned)out_capacity);
}
void peer_soundtouch_delete(void *s) { delete (soundtouch::SoundTouch *)s; }

}
