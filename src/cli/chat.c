#include "cli/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli/batch.h"

#define DIM "\033[2m"
#define ITALIC_DIM "\033[2;3m"
#define RESET "\033[0m"

/* Streams answer text to stdout, showing a thinking model's <think>...</think>
 * part dimmed (on a terminal) or between the literal tags (otherwise). A tag
 * split across deltas is held back until it is complete. */
typedef struct think_filter {
    bool tty, in_think;
    char held[16];
    size_t n_held;
} think_filter;

static const char *const TAGS[2] = {"<think>", "</think>"};

static void tf_write(think_filter *f, const char *s, size_t n) {
    fwrite(s, 1, n, stdout);
    (void)f;
}

static void tf_tag(think_filter *f, int which) {
    f->in_think = which == 0;
    if (f->tty) fputs(f->in_think ? ITALIC_DIM "thinking: " : RESET "\n", stdout);
    else fputs(TAGS[which], stdout);
}

static void tf_push(think_filter *f, const char *s, size_t n) {
    /* work on held + s */
    char *buf = malloc(f->n_held + n + 1);
    if (!buf) return;
    memcpy(buf, f->held, f->n_held);
    memcpy(buf + f->n_held, s, n);
    size_t len = f->n_held + n, pos = 0;
    f->n_held = 0;
    while (pos < len) {
        const char *lt = memchr(buf + pos, '<', len - pos);
        if (!lt) { tf_write(f, buf + pos, len - pos); pos = len; break; }
        size_t at = (size_t)(lt - buf);
        tf_write(f, buf + pos, at - pos);
        pos = at;
        int matched = -1;
        bool partial = false;
        for (int t = 0; t < 2; t++) {
            size_t tl = strlen(TAGS[t]);
            if (len - pos >= tl && !memcmp(buf + pos, TAGS[t], tl)) matched = t;
            else if (len - pos < tl && !memcmp(buf + pos, TAGS[t], len - pos)) partial = true;
        }
        if (matched >= 0) {
            tf_tag(f, matched);
            pos += strlen(TAGS[matched]);
        } else if (partial) {
            memcpy(f->held, buf + pos, len - pos);
            f->n_held = len - pos;
            pos = len;
        } else {
            tf_write(f, buf + pos, 1);
            pos++;
        }
    }
    free(buf);
    fflush(stdout);
}

static void tf_end(think_filter *f) {
    if (f->n_held) fwrite(f->held, 1, f->n_held, stdout);
    f->n_held = 0;
    if (f->in_think && f->tty) fputs(RESET, stdout);
    f->in_think = false;
    fflush(stdout);
}

typedef struct turn {
    think_filter filter;
    char *text;
    size_t len, cap;
    bool done;
    vllmc_finish_reason finish;
    int prompt_tokens, completion_tokens;
} turn;

static void on_output(const vllmc_output *o, void *user) {
    turn *t = user;
    if (o->text_len) {
        tf_push(&t->filter, o->text, o->text_len);
        if (t->len + o->text_len + 1 > t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 256;
            while (cap < t->len + o->text_len + 1) cap *= 2;
            char *p = realloc(t->text, cap);
            if (p) { t->text = p; t->cap = cap; }
        }
        if (t->len + o->text_len + 1 <= t->cap) {
            memcpy(t->text + t->len, o->text, o->text_len);
            t->len += o->text_len;
            t->text[t->len] = 0;
        }
    }
    t->prompt_tokens = o->prompt_tokens;
    t->completion_tokens = o->completion_tokens;
    if (o->finish != VLLMC_FINISH_NONE) {
        t->done = true;
        t->finish = o->finish;
    }
}

typedef struct history {
    vllmc_message *msgs;
    int n, cap;
} history;

static int history_push(history *h, const char *role, const char *content) {
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 8;
        vllmc_message *m = realloc(h->msgs, (size_t)cap * sizeof *m);
        if (!m) return -1;
        h->msgs = m;
        h->cap = cap;
    }
    char *c = strdup(content);
    if (!c) return -1;
    h->msgs[h->n++] = (vllmc_message){role, c};
    return 0;
}

static void history_clear(history *h, int keep) {
    while (h->n > keep) free((char *)h->msgs[--h->n].content);
}

/* A line from the terminal (libedit) or from piped stdin; NULL at EOF. */
static char *read_line(bool tty, volatile sig_atomic_t *interrupted) {
    if (tty) {
        for (;;) {
            *interrupted = 0;
            char *line = readline("> ");
            if (line || !*interrupted) return line;   /* Ctrl-C at the prompt: a fresh prompt */
            fputs("\n", stdout);
        }
    }
    char *line = NULL;
    size_t cap = 0;
    fputs("> ", stdout);
    fflush(stdout);
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) { free(line); return NULL; }
    if (n && line[n - 1] == '\n') line[n - 1] = 0;
    return line;
}

int vc_chat_run(vllmc_engine *e, const vllmc_sampling_params *p, const char *system_prompt,
                volatile sig_atomic_t *interrupted) {
    bool tty_in = isatty(0), tty_out = isatty(1);
    history h = {0};
    int n_fixed = 0;
    if (system_prompt && *system_prompt) {
        history_push(&h, "system", system_prompt);
        n_fixed = 1;
    }
    printf("vllmc chat with %s (context %d tokens). /reset forgets, /stats counts, /exit quits, Ctrl-C stops an answer.\n",
           vllmc_model_name(e), vllmc_max_model_len(e));
    fflush(stdout);
    char err[1024];
    int rc = 0;
    for (;;) {
        char *line = read_line(tty_in, interrupted);
        if (!line) { fputs("\n", stdout); break; }
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) { free(line); continue; }
        if (tty_in) add_history(s);
        if (!strcmp(s, "/exit") || !strcmp(s, "/quit")) { free(line); break; }
        if (!strcmp(s, "/stats")) {
            vc_cli_print_stats(e, stdout);
            fflush(stdout);
            free(line);
            continue;
        }
        if (!strcmp(s, "/reset")) {
            history_clear(&h, n_fixed);
            printf("[conversation reset]\n");
            fflush(stdout);
            free(line);
            continue;
        }
        history_push(&h, "user", s);
        free(line);
        char *prompt = NULL;
        if (vllmc_apply_chat_template(e, h.msgs, h.n, true, &prompt, err, sizeof err)) {
            fprintf(stderr, "vllmc: chat template: %s\n", err);
            rc = -1;
            break;
        }
        turn t = {.filter = {.tty = tty_out}};
        vllmc_request r = {.prompt = prompt, .params = *p, .on_output = on_output, .user = &t};
        *interrupted = 0;
        int64_t id = vllmc_add_request(e, &r, err, sizeof err);
        free(prompt);
        if (id < 0) {
            fprintf(stderr, "vllmc: %s\n(use /reset to start a new conversation)\n", err);
            history_clear(&h, h.n - 1);
            continue;
        }
        bool cancelled = false;
        while (!t.done) {
            if (*interrupted && !cancelled) {
                vllmc_cancel(e, id);
                cancelled = true;
            }
            if (vllmc_step(e) < 0) break;
        }
        tf_end(&t.filter);
        if (t.finish == VLLMC_FINISH_ABORT) printf("\n[stopped]");
        else if (t.finish == VLLMC_FINISH_ERROR) printf("\n[error]");
        else if (t.finish == VLLMC_FINISH_LENGTH) printf("\n[length limit]");
        int left = vllmc_max_model_len(e) - t.prompt_tokens - t.completion_tokens;
        printf("\n%s[%d tokens left in the context]%s\n", tty_out ? DIM : "", left < 0 ? 0 : left,
               tty_out ? RESET : "");
        fflush(stdout);
        history_push(&h, "assistant", t.text ? t.text : "");
        free(t.text);
        *interrupted = 0;
        if (t.finish == VLLMC_FINISH_ERROR) { rc = -1; break; }
    }
    history_clear(&h, 0);
    free(h.msgs);
    return rc;
}
