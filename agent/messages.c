/* The owner's words in English and French. See messages.h. A maker adds a
 * language as a column here; tests/unit/test_agent_messages.c checks that
 * every translation takes the same arguments as its English text. */
#include "messages.h"

#include <stdlib.h>
#include <string.h>

struct entry {
    const char *en;
    const char *fr; /* UTF-8 */
};

static const struct entry catalogue[] = {
    {"the device's storage is full (no space left)",
     "la mémoire de l'appareil est pleine (plus d'espace libre)"},
    {"the storage is read-only", "la mémoire est en lecture seule"},
    {"the storage quota is used up", "le quota de stockage est épuisé"},
    {"permission denied", "permission refusée"},
    {"out of memory", "mémoire vive insuffisante"},
    {"Nothing changed: the choice could not be saved (%s).\n",
     "Rien n'a changé : le choix n'a pas pu être enregistré (%s).\n"},
    {"on", "oui"},
    {"off", "non"},
    {"%s (default from %s; the owner has not decided)",
     "%s (valeur par défaut de %s ; le propriétaire n'a pas choisi)"},
    {"%s (set by the owner, %s)", "%s (choisi par le propriétaire, %s)"},
    {"the report for %s is made at %s", "le rapport de %s est préparé le %s"},
    {"the report for %s is made at a random moment between %s and %s",
     "le rapport de %s est préparé à un moment tiré au hasard entre le %s et le %s"},
    {"Reports go through the relay %s, which hides this device's address, to the statistics server "
     "%s, which cannot see the address.\n",
     "Les rapports passent par le relais %s, qui masque l'adresse de cet appareil, jusqu'au "
     "serveur de statistiques %s, qui ne voit pas cette adresse.\n"},
    {"Reports go to the statistics server %s.\n",
     "Les rapports sont envoyés au serveur de statistiques %s.\n"},
    {"the statistics server (through the relay)", "le serveur de statistiques (par le relais)"},
    {"the statistics server", "le serveur de statistiques"},
    {"delivered and stored", "remis et enregistré"},
    {"delivered (the server already had it)", "remis (le serveur l'avait déjà)"},
    {"not delivered, tried again later", "non remis, nouvel essai plus tard"},
    {"the answer did not come from the statistics server; tried again in a few hours",
     "la réponse ne venait pas du serveur de statistiques ; nouvel essai dans quelques heures"},
    {"refused by the statistics server", "refusé par le serveur de statistiques"},
    {"deleted without being sent", "supprimé sans avoir été envoyé"},
    {"Activation report (sent once, when the device is first used):",
     "Rapport d'activation (envoyé une seule fois, à la première utilisation) :"},
    {"Not made yet: the first `sts-agent run` makes and sends it; `sts-agent preview` shows its "
     "exact content.",
     "Pas encore préparé : le premier `sts-agent run` le prépare et l'envoie ; `sts-agent preview` "
     "montre son contenu exact."},
    {"  Delivered on %s to %s, which confirmed it has it.\n",
     "  Remis le %s au %s, qui a confirmé l'avoir reçu.\n"},
    {"  Waiting to be sent: %u attempt(s) so far; next attempt at %s.\n",
     "  En attente d'envoi : %u essai(s) jusqu'ici ; prochain essai le %s.\n"},
    {"  Last attempt: %s.\n", "  Dernier essai : %s.\n"},
    {"  Refused by %s on %s: %s. It is not sent again unless you run `sts-agent retry`.\n",
     "  Refusé par le %s le %s : %s. Il n'est plus envoyé, sauf si vous lancez `sts-agent "
     "retry`.\n"},
    {"  Last answer, exactly (HTTP %ld, %s): %s\n",
     "  Dernière réponse, telle quelle (HTTP %ld, %s) : %s\n"},
    {"  Left out: %s\n", "  Non inclus : %s\n"},
    {"  Made on %s; report identifier %s (random, only so that it is never counted twice).\n",
     "  Préparé le %s ; identifiant du rapport %s (tiré au hasard, seulement pour qu'il ne soit "
     "jamais compté deux fois).\n"},
    {"  Exact content: %s\n", "  Contenu exact : %s\n"},
    {"Monthly anonymous report (no device identifier), at most one a month:",
     "Rapport mensuel anonyme (sans identifiant de l'appareil), au plus un par mois :"},
    {"  Last made for %s.\n", "  Dernier préparé pour %s.\n"},
    {"  Next: %s.\n", "  Prochain : %s.\n"},
    {"  Waiting to be sent: %zu.\n", "  En attente d'envoi : %zu.\n"},
    {"  - the report for %s: %u attempt(s), next at %s; last problem: %s\n",
     "  - le rapport de %s : %u essai(s), prochain le %s ; dernier problème : %s\n"},
    {"    Exact content: %s\n", "    Contenu exact : %s\n"},
    {"Settings: %s; what was sent is kept in %s.\n",
     "Réglages : %s ; ce qui a été envoyé est conservé dans %s.\n"},
    {"Your choices:", "Vos choix :"},
    {"  country: %s\n", "  pays : %s\n"},
    {"  lifetime: %s\n", "  rapport mensuel : %s\n"},
    {"Problem: %s (tried again later).\n", "Problème : %s (nouvel essai plus tard).\n"},
    {"History (%zu event(s), newest last, at most %d):\n",
     "Historique (%zu événement(s), le plus récent en dernier, au plus %d) :\n"},
    {"activation", "activation"},
    {"monthly report", "rapport mensuel"},
    {"      Exact content: %s\n", "      Contenu exact : %s\n"},
    {"The exact state, for a program: `sts-agent status --json`.",
     "L'état exact, pour un programme : `sts-agent status --json`."},
    {"sts-agent: the monthly report for %s cannot be made yet: %s: %s\n",
     "sts-agent : le rapport mensuel de %s ne peut pas encore être préparé : %s : %s\n"},
    {"sts-agent: next: %s, with its own random report identifier\n",
     "sts-agent : prochain envoi : %s, avec son propre identifiant tiré au hasard\n"},
    {"sts-agent: next: a monthly report waiting to be sent",
     "sts-agent : prochain envoi : un rapport mensuel en attente"},
    {"sts-agent: nothing to send: the activation report is %s and monthly reports are off (see "
     "`sts-agent status`)\n",
     "sts-agent : rien à envoyer : le rapport d'activation est %s et les rapports mensuels sont "
     "désactivés (voir `sts-agent status`)\n"},
    {"sts-agent: fact %s: %s; nothing would be sent until it is fixed in %s\n",
     "sts-agent : donnée %s : %s ; rien ne sera envoyé tant qu'elle n'est pas corrigée dans %s\n"},
    {"sts-agent: not made yet: the first `sts-agent run` sends this with its own random report "
     "identifier and the day it runs",
     "sts-agent : pas encore préparé : le premier `sts-agent run` envoie ceci avec son propre "
     "identifiant tiré au hasard et le jour où il s'exécute"},
    {"Nothing changed: the country could not be taken out of the activation report waiting to be "
     "sent.",
     "Rien n'a changé : le pays n'a pas pu être retiré du rapport d'activation en attente "
     "d'envoi."},
    {"country consent: off; the activation report waiting to be sent will be sent without the "
     "country",
     "consentement pour le pays : non ; le rapport d'activation en attente sera envoyé sans le "
     "pays"},
    {"country consent: on; the activation report was already made without it and stays so (consent "
     "is not retroactive)",
     "consentement pour le pays : oui ; le rapport d'activation a déjà été préparé sans lui et le "
     "reste (le consentement n'est pas rétroactif)"},
    {"country consent: on; the activation report was made and sent without it and stays so "
     "(consent is not retroactive)",
     "consentement pour le pays : oui ; le rapport d'activation a été préparé et envoyé sans lui "
     "et le reste (le consentement n'est pas rétroactif)"},
    {"country consent: on; the activation report already carries the country (consent was on when "
     "it was made; not retroactive)",
     "consentement pour le pays : oui ; le rapport d'activation contient déjà le pays (le "
     "consentement était donné quand il a été préparé ; pas rétroactif)"},
    {"country consent: off; the activation report had already been sent with the country; no later "
     "report carries it",
     "consentement pour le pays : non ; le rapport d'activation avait déjà été envoyé avec le pays "
     "; aucun rapport ultérieur ne le contient"},
    {"country consent: on", "consentement pour le pays : oui"},
    {"country consent: off", "consentement pour le pays : non"},
    {"lifetime consent: off; %zu monthly report(s) waiting to be sent deleted, nothing more is "
     "sent\n",
     "consentement au rapport mensuel : non ; %zu rapport(s) mensuel(s) en attente supprimé(s), "
     "plus rien n'est envoyé\n"},
    {"lifetime consent: on; at most one anonymous report a month (no device identifier); a running "
     "`sts-agent run` picks it up at its next wake-up, `sts-agent run --once` at once",
     "consentement au rapport mensuel : oui ; au plus un rapport anonyme par mois (sans "
     "identifiant de l'appareil) ; un `sts-agent run` en cours le prend en compte à son prochain "
     "réveil, `sts-agent run --once` immédiatement"},
    {"country: %s\n", "pays : %s\n"},
    {"lifetime: %s\n", "rapport mensuel : %s\n"},
    {"Nothing to send again: no report was refused.",
     "Rien à renvoyer : aucun rapport n'a été refusé."},
    {"The activation report (report_id %s) will be sent again, unchanged, at the next `sts-agent "
     "run`.\n",
     "Le rapport d'activation (report_id %s) sera renvoyé, inchangé, au prochain `sts-agent "
     "run`.\n"},
    {"%u lifetime report(s) will be sent again, unchanged, at the next `sts-agent run`.\n",
     "%u rapport(s) mensuel(s) sera (seront) renvoyé(s), inchangé(s), au prochain `sts-agent "
     "run`.\n"},
};

static enum agent_lang current = AGENT_LANG_EN;

enum agent_lang agent_msg_lang_from_env(void)
{
    static const char *const vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v != NULL && v[0] != '\0')
            return strncmp(v, "fr", 2) == 0 ? AGENT_LANG_FR : AGENT_LANG_EN;
    }
    return AGENT_LANG_EN;
}

void agent_msg_set_lang(enum agent_lang lang)
{
    current = lang;
}

const char *agent_msg(const char *english)
{
    if (current == AGENT_LANG_EN)
        return english;
    for (size_t i = 0; i < sizeof catalogue / sizeof catalogue[0]; i++)
        if (strcmp(catalogue[i].en, english) == 0)
            return catalogue[i].fr;
    return english;
}

const char *agent_msg_entry(size_t i, enum agent_lang lang)
{
    if (i >= sizeof catalogue / sizeof catalogue[0])
        return NULL;
    return lang == AGENT_LANG_FR ? catalogue[i].fr : catalogue[i].en;
}
