/* The owner's words: every sentence `status`, `preview`, `consent` and
 * `retry` print for the device owner, in one catalogue (messages.c) with a
 * French translation, the first market of the devices.
 *
 * A simple table, not gettext: the English text is the key, as with
 * gettext's _() (so code reads naturally and the compiler checks each
 * format string against its arguments through format_arg), but the table is
 * compiled in: no libintl (bionic and musl have none), no .mo files to
 * install in a firmware image, no locale directory, a few kilobytes. A maker
 * adds a language by adding a column. The exact bytes (payloads, answers,
 * `status --json`) are never translated.
 *
 * The language is French when the first of LC_ALL, LC_MESSAGES, LANG that is
 * set and not empty starts with "fr"; English otherwise. Strings returned are
 * static. Not thread-safe while the language changes (set once at start). */
#ifndef AGENT_MESSAGES_H
#define AGENT_MESSAGES_H

#include <stddef.h>

enum agent_lang { AGENT_LANG_EN = 0, AGENT_LANG_FR };

/* The owner's language, from the environment as above. */
enum agent_lang agent_msg_lang_from_env(void);

/* Sets the language of agent_msg (tests; main() uses the environment). */
void agent_msg_set_lang(enum agent_lang lang);

/* english in the current language; english itself when the catalogue has
 * no translation of it. */
const char *agent_msg(const char *english) __attribute__((format_arg(1)));

/* The catalogue, for its test: entry i's English and French text (NULL past
 * the end). */
const char *agent_msg_entry(size_t i, enum agent_lang lang);

#endif
