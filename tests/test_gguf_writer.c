/* GGUF writer: what it writes reads back through our reader (every metadata
 * type, string arrays, tensors at aligned offsets with their bytes), bad use
 * is refused, and a write that runs out of space leaves no file behind. */
#include "common/testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/gguf_writer.h"

#define OUT_DIR "build/test-tmp"

static void out_path(char *buf, size_t n, const char *name) {
    mkdir("build", 0755);
    mkdir(OUT_DIR, 0755);
    snprintf(buf, n, OUT_DIR "/%s-%d.gguf", name, (int)getpid());
}

static int str_eq(vc_str s, const char *c) { return s.len == strlen(c) && !memcmp(s.ptr, c, s.len); }

static void test_roundtrip(void **state) {
    (void)state;
    vc_error err = {{0}};
    vc_gguf_writer *w;
    assert_int_equal(vc_gguf_writer_create(&w, &err), 0);
    assert_int_equal(vc_gguf_writer_set_str(w, "general.architecture", "llama"), 0);
    assert_int_equal(vc_gguf_writer_set_u32(w, "general.alignment", 64), 0);
    assert_int_equal(vc_gguf_writer_set_u8(w, "t.u8", 200), 0);
    assert_int_equal(vc_gguf_writer_set_i8(w, "t.i8", -100), 0);
    assert_int_equal(vc_gguf_writer_set_u16(w, "t.u16", 60000), 0);
    assert_int_equal(vc_gguf_writer_set_i16(w, "t.i16", -30000), 0);
    assert_int_equal(vc_gguf_writer_set_u32(w, "t.u32", 4000000000u), 0);
    assert_int_equal(vc_gguf_writer_set_i32(w, "t.i32", -2000000000), 0);
    assert_int_equal(vc_gguf_writer_set_u64(w, "t.u64", 18000000000000000000ull), 0);
    assert_int_equal(vc_gguf_writer_set_i64(w, "t.i64", -9000000000000000000ll), 0);
    assert_int_equal(vc_gguf_writer_set_f32(w, "t.f32", 1e-5f), 0);
    assert_int_equal(vc_gguf_writer_set_f64(w, "t.f64", 3.141592653589793), 0);
    assert_int_equal(vc_gguf_writer_set_bool(w, "t.bool", true), 0);
    const char *strs[] = {"<s>", "", "h\xc3\xa9llo", "a b"};
    assert_int_equal(vc_gguf_writer_set_arr_str(w, "t.strs", strs, NULL, 4), 0);
    const float scores[] = {0.5f, -1.25f, 3.0f};
    assert_int_equal(vc_gguf_writer_set_arr(w, "t.scores", VC_GGUF_FLOAT32, scores, 3), 0);
    const int32_t types[] = {1, 3, 6, -2};
    assert_int_equal(vc_gguf_writer_set_arr(w, "t.types", VC_GGUF_INT32, types, 4), 0);

    /* an F32 [3 x 5] tensor and a Q8_0 [64 x 2] one (raw bytes: the writer does not look) */
    float a[15];
    for (int i = 0; i < 15; i++) a[i] = (float)i * 0.5f - 3.0f;
    int64_t ne_a[2] = {5, 3};
    assert_int_equal(vc_gguf_writer_add_tensor(w, "a.weight", VC_F32, 2, ne_a, a, sizeof a), 0);
    uint8_t q[2 * 2 * 34];
    for (size_t i = 0; i < sizeof q; i++) q[i] = (uint8_t)(i * 7 + 1);
    int64_t ne_q[2] = {64, 2};
    assert_int_equal(vc_gguf_writer_add_tensor(w, "q.weight", VC_Q8_0, 2, ne_q, q, sizeof q), 0);

    char path[256];
    out_path(path, sizeof path, "roundtrip");
    assert_int_equal(vc_gguf_writer_write(w, path, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((uint64_t)st.st_size, vc_gguf_writer_file_size(w));
    vc_gguf_writer_free(w);

    vc_gguf *g;
    if (vc_gguf_open(&g, path, &err)) fail_msg("reader rejected our file: %s", err.msg);
    assert_int_equal(vc_gguf_version(g), 3);
    assert_int_equal(vc_gguf_n_kv(g), 16);
    vc_str s;
    assert_int_equal(vc_gguf_get_str(g, "general.architecture", &s, &err), 0);
    assert_true(str_eq(s, "llama"));
    uint64_t u;
    int64_t i64;
    double f;
    bool b;
    assert_int_equal(vc_gguf_get_u64(g, "t.u8", &u, &err), 0);
    assert_int_equal(u, 200);
    assert_int_equal(vc_gguf_get_i64(g, "t.i8", &i64, &err), 0);
    assert_int_equal(i64, -100);
    assert_int_equal(vc_gguf_get_u64(g, "t.u16", &u, &err), 0);
    assert_int_equal(u, 60000);
    assert_int_equal(vc_gguf_get_i64(g, "t.i16", &i64, &err), 0);
    assert_int_equal(i64, -30000);
    assert_int_equal(vc_gguf_get_u64(g, "t.u32", &u, &err), 0);
    assert_int_equal(u, 4000000000u);
    assert_int_equal(vc_gguf_get_i64(g, "t.i32", &i64, &err), 0);
    assert_int_equal(i64, -2000000000);
    assert_int_equal(vc_gguf_get_u64(g, "t.u64", &u, &err), 0);
    assert_true(u == 18000000000000000000ull);
    assert_int_equal(vc_gguf_get_i64(g, "t.i64", &i64, &err), 0);
    assert_true(i64 == -9000000000000000000ll);
    assert_int_equal(vc_gguf_get_f64(g, "t.f32", &f, &err), 0);
    assert_true((float)f == 1e-5f);
    assert_int_equal(vc_gguf_get_f64(g, "t.f64", &f, &err), 0);
    assert_true(f == 3.141592653589793);
    assert_int_equal(vc_gguf_get_bool(g, "t.bool", &b, &err), 0);
    assert_true(b);
    const vc_gguf_kv *kv = vc_gguf_find(g, "t.strs");
    assert_non_null(kv);
    assert_int_equal(kv->val.type, VC_GGUF_ARRAY);
    assert_int_equal(kv->val.arr.elem_type, VC_GGUF_STRING);
    assert_int_equal(kv->val.arr.n, 4);
    for (int i = 0; i < 4; i++) assert_true(str_eq(kv->val.arr.strs[i], strs[i]));
    kv = vc_gguf_find(g, "t.scores");
    assert_non_null(kv);
    assert_int_equal(kv->val.arr.n, 3);
    for (int i = 0; i < 3; i++) assert_true(vc_gguf_arr_float(&kv->val, i) == scores[i]);
    kv = vc_gguf_find(g, "t.types");
    assert_non_null(kv);
    for (int i = 0; i < 4; i++) assert_int_equal(vc_gguf_arr_int(&kv->val, i), types[i]);

    assert_int_equal(vc_gguf_n_tensors(g), 2);
    const vc_tensor *ta = vc_gguf_tensor(g, "a.weight");
    assert_non_null(ta);
    assert_int_equal(ta->type, VC_F32);
    assert_int_equal(ta->ne[0], 5);
    assert_int_equal(ta->ne[1], 3);
    assert_int_equal(ta->nbytes, sizeof a);
    assert_memory_equal(ta->data, a, sizeof a);
    const vc_tensor *tq = vc_gguf_tensor(g, "q.weight");
    assert_non_null(tq);
    assert_int_equal(tq->type, VC_Q8_0);
    assert_int_equal(tq->ne[0], 64);
    assert_int_equal(tq->ne[1], 2);
    assert_memory_equal(tq->data, q, sizeof q);
    /* the alignment we asked for, counted from the file start */
    const uint8_t *base = (const uint8_t *)ta->data;
    assert_int_equal(((const uint8_t *)tq->data - base) % 64, 0);
    vc_gguf_free(g);
    unlink(path);
}

static void test_bad_use(void **state) {
    (void)state;
    vc_error err = {{0}};
    vc_gguf_writer *w;
    assert_int_equal(vc_gguf_writer_create(&w, &err), 0);
    assert_int_equal(vc_gguf_writer_set_u32(w, "k", 1), 0);
    assert_int_equal(vc_gguf_writer_set_u32(w, "k", 2), -1);        /* duplicate key */
    float x[30] = {0};
    int64_t ne[2] = {30, 1};
    /* 30 is not a multiple of Q8_0's 32-element block */
    assert_int_equal(vc_gguf_writer_add_tensor(w, "t", VC_Q8_0, 2, ne, x, 34), -1);
    /* the first failure is what write reports, and nothing is written */
    char path[256];
    out_path(path, sizeof path, "bad");
    assert_int_equal(vc_gguf_writer_write(w, path, &err), -1);
    assert_non_null(strstr(err.msg, "'k' set twice"));
    assert_false(tu_exists(path));
    vc_gguf_writer_free(w);

    assert_int_equal(vc_gguf_writer_create(&w, &err), 0);
    ne[0] = 4;
    assert_int_equal(vc_gguf_writer_add_tensor(w, "t", VC_F32, 2, ne, x, 12), -1);  /* 16 bytes expected */
    assert_int_equal(vc_gguf_writer_write(w, path, &err), -1);
    assert_non_null(strstr(err.msg, "byte size"));
    vc_gguf_writer_free(w);
}

/* A file-size limit makes write(2) fail mid-file (EFBIG), the same path a
 * full disk (ENOSPC) takes: an error naming the file, no .tmp, no file. */
static void test_write_failure_leaves_nothing(void **state) {
    (void)state;
    char path[256], tmp[300];
    out_path(path, sizeof path, "full");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {100000, 100000};
        setrlimit(RLIMIT_FSIZE, &rl);
        vc_error err = {{0}};
        vc_gguf_writer *w;
        if (vc_gguf_writer_create(&w, &err)) _exit(3);
        static float big[100000];
        int64_t ne[2] = {1000, 100};
        vc_gguf_writer_add_tensor(w, "big", VC_F32, 2, ne, big, sizeof big);
        int rc = vc_gguf_writer_write(w, path, &err);
        vc_gguf_writer_free(w);
        ssize_t n = write(fds[1], err.msg, strlen(err.msg) + 1);
        (void)n;
        _exit(rc == -1 ? 0 : 1);
    }
    close(fds[1]);
    char msg[1024] = {0};
    ssize_t n = read(fds[0], msg, sizeof msg - 1);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(n > 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(msg, path));
    assert_non_null(strstr(msg, "write failed"));
    assert_false(tu_exists(path));
    assert_false(tu_exists(tmp));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad_use),
        cmocka_unit_test(test_write_failure_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
